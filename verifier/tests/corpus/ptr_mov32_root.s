; type: socket_filter
w0 = w10
exit
