; type: socket_filter
; map: a array key=4 value=16 entries=1
*(u32 *)(r10 - 4) = 0
r2 = r10
r2 += -4
ld_pseudo r1, 1, 0
call 1
if r0 == 0 goto +10
r1 = *(u8 *)(r0 + 0)
if r1 != 0 goto +3
r2 = r0
r3 = 0
goto +2
r2 = 0
r3 = 4
r2 += r3
r0 = 0
exit
