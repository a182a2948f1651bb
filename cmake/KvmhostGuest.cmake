# Tiny guests: assembly sources built into flat binaries at build time and
# embedded into host programs with .incbin, so no binary is ever committed.
#
# kvmhost_add_guests(<target> <source.S>...) builds each source into a flat
# binary linked at guest physical address 0x1000 (KVMHOST_GUEST_LOAD_ADDR in
# tests/guests/guests.h) and makes <target>, a static library that defines for
# each source "foo.S" the symbols guest_foo and guest_foo_end.
function(kvmhost_add_guests target)
  set(blobs)
  foreach(src ${ARGN})
    get_filename_component(name ${src} NAME_WE)
    get_filename_component(src_abs ${src} ABSOLUTE)
    set(out ${CMAKE_CURRENT_BINARY_DIR}/guests/${name})
    add_custom_command(
      OUTPUT ${out}.bin
      COMMAND ${CMAKE_COMMAND} -E make_directory ${CMAKE_CURRENT_BINARY_DIR}/guests
      COMMAND ${CMAKE_C_COMPILER} -c -x assembler-with-cpp -nostdinc -o ${out}.o ${src_abs}
      COMMAND ld -m elf_x86_64 -nostdlib -static -N --no-warn-rwx-segments -Ttext=0x1000 -e 0x1000 -o ${out}.elf ${out}.o
      COMMAND objcopy -O binary -j .text ${out}.elf ${out}.bin
      DEPENDS ${src_abs}
      COMMENT "Building tiny guest ${name}"
      VERBATIM)
    set(wrapper ${out}_blob.S)
    file(WRITE ${wrapper}.in
      "\t.section .rodata\n\t.balign 16\n\t.global guest_${name}\n\t.global guest_${name}_end\n"
      "guest_${name}:\n\t.incbin \"${out}.bin\"\nguest_${name}_end:\n"
      "\t.section .note.GNU-stack,\"\",@progbits\n")
    configure_file(${wrapper}.in ${wrapper} COPYONLY)
    set_source_files_properties(${wrapper} PROPERTIES OBJECT_DEPENDS ${out}.bin)
    list(APPEND blobs ${wrapper})
  endforeach()
  add_library(${target} STATIC ${blobs})
endfunction()
