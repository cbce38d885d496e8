# malloc/free: what the heap holds, read through pointers (their values are not printed:
# heap addresses legitimately differ)
set pagination off
set confirm off
print $sp
break heap.c:18
continue
printf "%s\n", small
print sum
print big[2 * n - 1]
print n
continue
print $_exitcode
