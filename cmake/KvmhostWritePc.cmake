# Writes kvmhost.pc to KVMHOST_PC_OUT for the prefix CMAKE_INSTALL_PREFIX, from cmake/kvmhost.pc.in. Included at
# configure time (build/kvmhost.pc, the configured prefix) and from the install script (the prefix that install
# uses: `cmake --install --prefix`, or the configured one), so the installed file names where it was installed.
# Relative CMAKE_INSTALL_LIBDIR / INCLUDEDIR (GNUInstallDirs' default: lib, lib/x86_64-linux-gnu, include) go
# under ${prefix}; absolute ones are kept as they are.
foreach(kind LIBDIR INCLUDEDIR)
  if(IS_ABSOLUTE "${CMAKE_INSTALL_${kind}}")
    set(KVMHOST_PC_${kind} "${CMAKE_INSTALL_${kind}}")
  else()
    set(KVMHOST_PC_${kind} "\${prefix}/${CMAKE_INSTALL_${kind}}")
  endif()
endforeach()
configure_file("${KVMHOST_PC_IN}" "${KVMHOST_PC_OUT}" @ONLY)
