; type: socket_filter
; map: a array key=4 value=8 entries=1
; An array lookup whose key is known to be in range cannot miss: since
; Linux 6.14 the kernel returns a map value, not map_value_or_null, so
; the value may be read without a NULL check.
*(u32 *)(r10 - 4) = 0
r2 = r10
r2 += -4
ld_pseudo r1, 1, 0
call 1
r0 = *(u64 *)(r0 + 0)
r0 = 0
exit
