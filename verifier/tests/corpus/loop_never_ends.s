; type: socket_filter
; expect: too-complex
r0 = 0
r0 += 1
if r0 != 0 goto -2
exit
