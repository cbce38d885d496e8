# a NULL dereference: the stop with SIGSEGV, where it happened, then the process dies
set pagination off
set confirm off
print $sp
break length
continue
continue
bt
print n
continue
print $_exitsignal
