# three worker threads that take turns: a breakpoint in the worker is hit by thread 2, 3,
# 4 in that order, each worker joined before the next one's turn; info threads, bt, next
# in a worker, the exit code
set pagination off
set confirm off
print $sp
break add
continue
info threads
bt
print id
next
print counter
continue
info threads
print id
continue
info threads
continue
print counter
print $_exitcode
