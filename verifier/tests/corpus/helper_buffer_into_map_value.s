; type: socket_filter
; map: a array key=4 value=16 entries=1
r6 = r1
*(u32 *)(r10 - 4) = 0
r2 = r10
r2 += -4
ld_pseudo r1, 1, 0
call 1
if r0 == 0 goto +5
r1 = r6
r2 = 0
r3 = r0
r4 = 16
call 26
r0 = 0
exit
