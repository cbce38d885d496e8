# The scripted session run against `armbp gdbserver` and `qemu-aarch64 -g` on loop.elf.
# The test prepends `target remote :PORT`; everything after must print the same on both.
set pagination off
set confirm off
set width 0
set breakpoint always-inserted on
break hot
info breakpoints
continue
info registers x0 x1 x19 x20 pc cpsr
x/4xw $pc
x/3i $pc
bt
set $i = 0
while $i < 3
  continue
  print $x0
  set $i = $i + 1
end
stepi
x/i $pc
info registers pc x2
finish
x/gx &total
delete
break *(&hot + 4)
continue
info registers pc
delete
continue
