# Tiny Multiboot kernels: 32-bit assembly sources built into flat images
# that carry a Multiboot header with the a.out kludge (flag 16), so the
# image needs no ELF parsing and its header says where it goes. Built at
# build time and embedded with .incbin, like the flat guests of
# KvmhostGuest.cmake (which are linked at 0x1000 for real/long mode and do
# not fit a Multiboot kernel's 32-bit, 1 MiB world).
#
# kvmhost_add_multiboot_guests(<target> <source.S>...) links each source at
# guest physical address 0x100000 (KVMHOST_MBGUEST_LOAD_ADDR in
# tests/guests-multiboot/mbguests.h) with entry symbol _start, and makes
# <target>, a static library that defines for each source "foo.S" the symbols
# mbguest_foo and mbguest_foo_end. The source must put everything it loads in
# .text; its bss is described by the header's bss_end_addr only.
function(kvmhost_add_multiboot_guests target)
  set(blobs)
  foreach(src ${ARGN})
    get_filename_component(name ${src} NAME_WE)
    get_filename_component(src_abs ${src} ABSOLUTE)
    set(out ${CMAKE_CURRENT_BINARY_DIR}/mbguests/${name})
    add_custom_command(
      OUTPUT ${out}.bin
      COMMAND ${CMAKE_COMMAND} -E make_directory ${CMAKE_CURRENT_BINARY_DIR}/mbguests
      COMMAND ${CMAKE_C_COMPILER} -c -m32 -x assembler-with-cpp -nostdinc -o ${out}.o ${src_abs}
      COMMAND ld -m elf_i386 -nostdlib -static -N --no-warn-rwx-segments -Ttext=0x100000 -e _start -o ${out}.elf ${out}.o
      COMMAND objcopy -O binary -j .text ${out}.elf ${out}.bin
      DEPENDS ${src_abs}
      COMMENT "Building tiny Multiboot guest ${name}"
      VERBATIM)
    set(wrapper ${out}_blob.S)
    file(WRITE ${wrapper}.in
      "\t.section .rodata\n\t.balign 16\n\t.global mbguest_${name}\n\t.global mbguest_${name}_end\n"
      "mbguest_${name}:\n\t.incbin \"${out}.bin\"\nmbguest_${name}_end:\n"
      "\t.section .note.GNU-stack,\"\",@progbits\n")
    configure_file(${wrapper}.in ${wrapper} COPYONLY)
    set_source_files_properties(${wrapper} PROPERTIES OBJECT_DEPENDS ${out}.bin)
    list(APPEND blobs ${wrapper})
  endforeach()
  add_library(${target} STATIC ${blobs})
endfunction()
