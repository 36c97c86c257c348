; type: xdp
; expect: uninit-reg
exit
