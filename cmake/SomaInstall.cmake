# cmake/SomaInstall.cmake — what `cmake --install` puts where (included at the
# end of the top CMakeLists.txt, after every target exists):
#
#   bin/soma                           the CLI, finding libsoma through $ORIGIN
#   lib/libsoma.so.MAJOR[.MINOR.PATCH] SONAME libsoma.so.MAJOR, only SOMA_API exported
#   lib/libsoma.so                     the link-time name
#   lib/soma/plugins/soma-*.so         the built-in plugins
#   include/soma/{soma,plugin}.h
#   lib/pkgconfig/soma.pc
#   lib/cmake/soma/                    find_package(soma): soma::soma, soma_add_plugin()
#
# Every path is relative to the prefix given at install time, so
# `cmake --install build --prefix ~/.local` gives a working tree wherever the
# build was configured to go.

include(CMakePackageConfigHelpers)

set(SOMA_INSTALL_CMAKEDIR ${CMAKE_INSTALL_LIBDIR}/cmake/soma)
set(SOMA_INSTALL_PLUGINDIR ${CMAKE_INSTALL_LIBDIR}/soma/plugins)

# The loader refuses plugins in a directory writable by group or others, so
# the directories an install creates must not depend on the installer's umask.
set(CMAKE_INSTALL_DEFAULT_DIRECTORY_PERMISSIONS
    OWNER_READ OWNER_WRITE OWNER_EXECUTE GROUP_READ GROUP_EXECUTE WORLD_READ WORLD_EXECUTE)

# ---- the library ----------------------------------------------------------------
# The objects are compiled with -fvisibility=hidden, so the dynamic symbol table
# holds exactly the SOMA_API functions (tests/test_sdk.c checks it against soma.h).
install(TARGETS soma EXPORT somaTargets
  LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR})
install(DIRECTORY include/soma DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}
  FILES_MATCHING PATTERN "*.h")

# A sanitizer build of libsoma needs the sanitizer runtime loaded first, so a
# program linking it must itself link with the same -fsanitize flags; the
# installed package says so instead of leaving it to the user to find out.
set(SOMA_SANITIZE_LINK "")
if(SOMA_SANITIZE)
  set(SOMA_SANITIZE_LINK -fsanitize=address,undefined)
  target_link_options(soma INTERFACE $<INSTALL_INTERFACE:${SOMA_SANITIZE_LINK}>)
endif()

# ---- plugins and the CLI ----------------------------------------------------------
install(TARGETS ${SOMA_PLUGIN_TARGETS} LIBRARY DESTINATION ${SOMA_INSTALL_PLUGINDIR})

# bin/soma finds libsoma relative to itself: the configure-time prefix is not
# where `cmake --install --prefix` may put it.
if(IS_ABSOLUTE "${CMAKE_INSTALL_LIBDIR}")
  set(soma_rpath "${CMAKE_INSTALL_LIBDIR}")
else()
  file(RELATIVE_PATH soma_bin_to_lib /${CMAKE_INSTALL_BINDIR} /${CMAKE_INSTALL_LIBDIR})
  set(soma_rpath "$ORIGIN/${soma_bin_to_lib}")
endif()
set_target_properties(soma_cli PROPERTIES INSTALL_RPATH "${soma_rpath}")
# The build tree has the same bin/ and lib/ when the libdir is plain "lib", so
# the build can use the install RPATH as it is. Otherwise CMake pads the build
# RPATH with ':' to make room for rewriting it at install time, and an empty
# entry makes the dynamic loader search the current directory.
if(soma_rpath STREQUAL "$ORIGIN/../lib")
  set_target_properties(soma_cli PROPERTIES BUILD_WITH_INSTALL_RPATH ON)
endif()
install(TARGETS soma_cli RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})

# ---- pkg-config ---------------------------------------------------------------------
# soma.pc is written at install time: only then is the prefix known.
file(STRINGS ${CMAKE_SOURCE_DIR}/include/soma/plugin.h soma_abi_line
     REGEX "^#define SOMA_ABI_MAJOR [0-9]+$")
string(REGEX REPLACE ".* " "" SOMA_ABI_MAJOR "${soma_abi_line}")
set(soma_libs_private)
foreach(lib ${SLEEF_LIBRARIES} ${HWLOC_LIBRARIES} ${ZLIB_LIBRARIES} ${CMAKE_DL_LIBS} m)
  string(APPEND soma_libs_private " -l${lib}")
endforeach()
string(APPEND soma_libs_private " -pthread")
string(STRIP "${soma_libs_private}" soma_libs_private)
set(soma_libs_extra "")
if(SOMA_SANITIZE_LINK)
  set(soma_libs_extra " ${SOMA_SANITIZE_LINK}")
endif()
# Two passes: now everything but the prefix, at install time the prefix.
foreach(v LIBDIR INCLUDEDIR)
  if(IS_ABSOLUTE "${CMAKE_INSTALL_${v}}")
    set(SOMA_PC_${v} "${CMAKE_INSTALL_${v}}")
  else()
    set(SOMA_PC_${v} "\${prefix}/${CMAKE_INSTALL_${v}}")
  endif()
endforeach()
set(SOMA_PC_PREFIX "@SOMA_PC_PREFIX@")
set(SOMA_PC_LIBS_PRIVATE "${soma_libs_private}")
set(SOMA_PC_LIBS_EXTRA "${soma_libs_extra}")
configure_file(${CMAKE_SOURCE_DIR}/cmake/soma.pc.in ${CMAKE_BINARY_DIR}/soma.pc.in @ONLY)
set(soma_pc_out ${CMAKE_BINARY_DIR}/soma.pc)
install(CODE "
  set(SOMA_PC_PREFIX \"\${CMAKE_INSTALL_PREFIX}\")
  configure_file(\"${CMAKE_BINARY_DIR}/soma.pc.in\" \"${soma_pc_out}\" @ONLY)
")
install(FILES ${soma_pc_out} DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)

# ---- CMake package --------------------------------------------------------------------
install(EXPORT somaTargets NAMESPACE soma:: DESTINATION ${SOMA_INSTALL_CMAKEDIR})
configure_package_config_file(${CMAKE_SOURCE_DIR}/cmake/somaConfig.cmake.in
  ${CMAKE_BINARY_DIR}/somaConfig.cmake
  INSTALL_DESTINATION ${SOMA_INSTALL_CMAKEDIR}
  PATH_VARS CMAKE_INSTALL_INCLUDEDIR SOMA_INSTALL_PLUGINDIR)
# 0.x releases keep the SONAME libsoma.so.0, so any 0.y satisfies a request for 0.x.
write_basic_package_version_file(${CMAKE_BINARY_DIR}/somaConfigVersion.cmake
  VERSION ${PROJECT_VERSION} COMPATIBILITY SameMajorVersion)
install(FILES ${CMAKE_BINARY_DIR}/somaConfig.cmake ${CMAKE_BINARY_DIR}/somaConfigVersion.cmake
  ${CMAKE_SOURCE_DIR}/cmake/SomaPlugin.cmake
  DESTINATION ${SOMA_INSTALL_CMAKEDIR})
