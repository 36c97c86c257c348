; type: sched_cls
; expect: cfg
; map: jmp prog_array key=4 value=4 entries=4
r6 = r1
r7 = *(u32 *)(r1 + 76)
r3 = *(u32 *)(r1 + 80)
r4 = r7
r4 += 1
r0 = 0
if r4 > r3 goto +3
r1 = r6
call local f
r0 = *(u8 *)(r7 + 0)
exit
f:
ld_pseudo r2, 1, 0
r3 = 0
call 12
r0 = 0
exit
