# vmesh_module(NAME [DIR dir] DEPS mod... LIBS external...)
# Builds src/<dir>/*.c into the static library vmesh_<NAME> and records the
# module in the global property VMESH_MODULES (for the shared libvmesh).
# LIBS are PkgConfig::X targets (with VMESH_PC_X naming the pkg-config
# module, for vmesh.pc) or plain library names that are pkg-config module
# names too (tss2-esys, ...).
function(vmesh_module name)
  cmake_parse_arguments(M "" "DIR" "DEPS;LIBS" ${ARGN})
  if(NOT M_DIR)
    set(M_DIR ${name})
  endif()
  file(GLOB _src CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/src/${M_DIR}/*.c)
  if(NOT _src)
    message(STATUS "module ${name}: no sources yet, skipped")
    return()
  endif()
  add_library(vmesh_${name} STATIC ${_src})
  # Only what the public headers declare is exported from libvmesh.so.
  set_target_properties(vmesh_${name} PROPERTIES C_VISIBILITY_PRESET hidden)
  target_include_directories(vmesh_${name} PUBLIC ${CMAKE_SOURCE_DIR}/include PRIVATE ${CMAKE_SOURCE_DIR}/src)
  foreach(d IN LISTS M_DEPS)
    target_link_libraries(vmesh_${name} PUBLIC vmesh_${d})
  endforeach()
  target_link_libraries(vmesh_${name} PUBLIC ${M_LIBS})
  set_property(GLOBAL APPEND PROPERTY VMESH_MODULES ${name})
  set_property(GLOBAL APPEND PROPERTY VMESH_EXTERNAL_LIBS ${M_LIBS})
endfunction()

# Compiles web files into target (cmake/embed.cmake): vmesh_embed(target
# prefix URL FILE [URL FILE...]) gives it bool <prefix>_asset(path, ...).
function(vmesh_embed target prefix)
  set(_out ${CMAKE_BINARY_DIR}/generated/${prefix}_assets.c)
  set(_spec "")
  set(_deps "")
  set(_args ${ARGN})
  list(LENGTH _args _n)
  math(EXPR _last "${_n} - 1")
  foreach(_i RANGE 0 ${_last} 2)
    math(EXPR _j "${_i} + 1")
    list(GET _args ${_i} _url)
    list(GET _args ${_j} _file)
    set(_file ${CMAKE_SOURCE_DIR}/${_file})
    list(APPEND _deps ${_file})
    if(_spec)
      string(APPEND _spec "|")
    endif()
    string(APPEND _spec "${_url}=${_file}")
  endforeach()
  add_custom_command(OUTPUT ${_out}
    COMMAND ${CMAKE_COMMAND} -E make_directory ${CMAKE_BINARY_DIR}/generated
    COMMAND ${CMAKE_COMMAND} -DOUT=${_out} -DPREFIX=${prefix} "-DSPEC=${_spec}"
            -P ${CMAKE_SOURCE_DIR}/cmake/embed.cmake
    DEPENDS ${_deps} ${CMAKE_SOURCE_DIR}/cmake/embed.cmake
    COMMENT "Embedding web files into ${target}" VERBATIM)
  target_sources(${target} PRIVATE ${_out})
endfunction()
