; type: xdp
; map: ev perf_event_array key=4 value=4 entries=4
*(u64 *)(r10 - 8) = 1
ld_pseudo r2, 1, 0
r3 = 0xffffffff ll
r4 = r10
r4 += -8
r5 = 8
call 25
r0 = 2
exit
