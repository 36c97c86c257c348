; type: socket_filter
; map: a array key=4 value=16 entries=1
*(u32 *)(r10 - 4) = 0
r2 = r10
r2 += -4
ld_pseudo r1, 1, 0
call 1
if r0 == 0 goto +1
r0 += 16
r0 = 0
exit
