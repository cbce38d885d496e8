# three worker threads that take turns: a breakpoint in the worker is hit by thread 2, 3,
# 4 in that order; info threads, bt, next in a worker, another thread's frame, exit code
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
thread 1
frame
continue
continue
print counter
print $_exitcode
