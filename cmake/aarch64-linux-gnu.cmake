# Cross-compiling for arm64 with Debian's cross toolchain (gcc-aarch64-linux-gnu) on a multiarch host:
#   cmake -G Ninja -DCMAKE_TOOLCHAIN_FILE=cmake/aarch64-linux-gnu.cmake -B build-arm64
# The target's libraries come from Debian's arm64 packages installed beside the host's
# (dpkg --add-architecture arm64; scripts/deps.sh arm64), so the sysroot is / and libraries and .pc files
# are found under the multiarch folders (/usr/lib/aarch64-linux-gnu).
# Tests run under qemu-aarch64 user mode (qemu-user-static), which ctest uses through
# CMAKE_CROSSCOMPILING_EMULATOR, with / as the guest's library prefix: the arm64 programs then load
# /lib/ld-linux-aarch64.so.1 and the libc of the same package (libc6:arm64, which the arm64 -dev packages pull
# in). Not /usr/aarch64-linux-gnu: its loader comes from libc6-arm64-cross, a different build of glibc, and
# mixed with libc6:arm64's libc.so.6 the first pthread_create() spins forever.
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)
set(CMAKE_LIBRARY_ARCHITECTURE aarch64-linux-gnu)

set(CMAKE_C_COMPILER aarch64-linux-gnu-gcc)
set(CMAKE_ASM_COMPILER aarch64-linux-gnu-gcc)

# pkg-config: the arm64 .pc files only, never the host's.
set(ENV{PKG_CONFIG_LIBDIR} /usr/lib/aarch64-linux-gnu/pkgconfig:/usr/share/pkgconfig)
set(ENV{PKG_CONFIG_PATH} "")

find_program(KVMHOST_QEMU_AARCH64 NAMES qemu-aarch64-static qemu-aarch64)
if(KVMHOST_QEMU_AARCH64)
  set(CMAKE_CROSSCOMPILING_EMULATOR ${KVMHOST_QEMU_AARCH64} -L /)
endif()
