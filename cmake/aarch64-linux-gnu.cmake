# Cross build for aarch64 Linux on a Debian 12 x86-64 host (`tools/setup cross`
# installs what it needs):
#   cmake -S . -B build-aarch64 -DCMAKE_TOOLCHAIN_FILE=cmake/aarch64-linux-gnu.cmake
#   cmake --build build-aarch64 && (cd build-aarch64 && ctest)
# Compilers are Debian's gcc-aarch64-linux-gnu; libraries are the multiarch
# :arm64 packages in /usr/lib/aarch64-linux-gnu, except Criterion: its arm64
# package cannot be installed next to the amd64 one (libnanomsg5 is not
# Multi-Arch: same), so tools/setup unpacks it into SOMA_CROSS_EXTRA.
# ctest runs the tests through qemu-user.
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)
set(CMAKE_C_COMPILER aarch64-linux-gnu-gcc)
set(CMAKE_CXX_COMPILER aarch64-linux-gnu-g++)
set(CMAKE_LIBRARY_ARCHITECTURE aarch64-linux-gnu)
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)

set(SOMA_CROSS_EXTRA "/opt/soma-cross/arm64" CACHE PATH
    "Where tools/setup unpacked the arm64 packages that cannot be installed with apt")
set(_soma_extra_lib "${SOMA_CROSS_EXTRA}/usr/lib/aarch64-linux-gnu")

# pkg-config must see the arm64 .pc files only, never the host's.
set(ENV{PKG_CONFIG_LIBDIR}
    "${_soma_extra_lib}/pkgconfig:/usr/lib/aarch64-linux-gnu/pkgconfig:/usr/share/pkgconfig")
set(ENV{PKG_CONFIG_PATH} "")

# No -L prefix for qemu: the arm64 glibc from multiarch (libc6:arm64, which the
# :arm64 -dev packages pull in) must be loaded together with its own
# ld-linux-aarch64.so.1 from /lib. `-L /usr/aarch64-linux-gnu` would pair the
# cross toolchain's loader with that libc.so.6, a different build, and the
# first fork() or pthread_create() then hangs. LD_LIBRARY_PATH reaches
# Criterion's private libnanomsg; Criterion re-executes the test binary for
# each test, which needs qemu registered with binfmt_misc (tools/setup cross
# does it). SOMA_TEST_EMULATED lets a test skip what qemu-user itself cannot
# do (7.2 aborts when a child forked from a threaded process starts threads).
set(CMAKE_CROSSCOMPILING_EMULATOR
    "qemu-aarch64;-E;LD_LIBRARY_PATH=${_soma_extra_lib};-E;SOMA_TEST_EMULATED=qemu-aarch64")
