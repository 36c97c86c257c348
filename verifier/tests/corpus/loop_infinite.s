; type: socket_filter
; expect: infinite-loop
r0 = 0
goto -1
