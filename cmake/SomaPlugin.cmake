# SomaPlugin.cmake — soma_add_plugin() for code built against an installed
# soma (somaConfig.cmake includes it; soma's own tree has its own copy in the
# top CMakeLists.txt).
#
#   soma_add_plugin(<kind> <name> <sources...> [OUTPUT_DIR <dir>])
#
# builds soma-<kind>-<name>.so, the file name the loader's discovery looks
# for, as a MODULE (loaded with dlopen, never linked against). kind is init,
# loss or optim; name is the plugin's lowercase snake_case name.
#
# The plugin gets soma's include directory and nothing else from soma: it
# reaches the host only through the soma_host table, so it never links
# libsoma, and -z defs turns an accidental call into libsoma into a link
# error here instead of a load error later. -fvisibility=hidden leaves
# soma_plugin_entry (marked SOMA_PLUGIN_EXPORT) as its only export.

function(soma_add_plugin kind name)
  cmake_parse_arguments(P "" "OUTPUT_DIR" "" ${ARGN})
  if(NOT kind MATCHES "^(init|loss|optim)$")
    message(FATAL_ERROR "soma_add_plugin: kind '${kind}' is not one of init, loss, optim")
  endif()
  if(NOT name MATCHES "^[a-z][a-z0-9_]*$")
    message(FATAL_ERROR "soma_add_plugin: name '${name}' is not lowercase snake_case ([a-z][a-z0-9_]*)")
  endif()
  if(NOT P_UNPARSED_ARGUMENTS)
    message(FATAL_ERROR "soma_add_plugin(${kind} ${name}): no source files given")
  endif()
  if(NOT TARGET soma::soma)
    message(FATAL_ERROR "soma_add_plugin: call find_package(soma) first")
  endif()
  set(target soma-${kind}-${name})
  add_library(${target} MODULE ${P_UNPARSED_ARGUMENTS})
  target_include_directories(${target} PRIVATE
    $<TARGET_PROPERTY:soma::soma,INTERFACE_INCLUDE_DIRECTORIES>)
  set_target_properties(${target} PROPERTIES
    PREFIX "" OUTPUT_NAME ${target}
    C_VISIBILITY_PRESET hidden CXX_VISIBILITY_PRESET hidden VISIBILITY_INLINES_HIDDEN ON
    POSITION_INDEPENDENT_CODE ON)
  target_compile_options(${target} PRIVATE -fvisibility=hidden)
  if(CMAKE_SYSTEM_NAME STREQUAL "Linux")
    target_link_options(${target} PRIVATE -Wl,-z,defs)
  endif()
  if(UNIX)
    target_link_libraries(${target} PRIVATE m)
  endif()
  if(P_OUTPUT_DIR)
    set_target_properties(${target} PROPERTIES LIBRARY_OUTPUT_DIRECTORY ${P_OUTPUT_DIR})
  endif()
endfunction()
