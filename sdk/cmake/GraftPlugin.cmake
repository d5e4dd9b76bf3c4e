# graft_add_plugin(<target> NAME <plugin-file-name> SOURCES <src>... [OUTPUT_DIR <dir>])
#
# Builds a graft kernel plugin the way the host expects it: a MODULE library with hidden
# visibility that exports only graft_plugin_init and graft_plugin_score (a version
# script), with no undefined symbols left to the host. Used in the graft tree and, through
# find_package(graft-sdk), by plugins built out of tree.
set(_GRAFT_PLUGIN_MAP "${CMAKE_CURRENT_LIST_DIR}/graft-plugin.map")

function(graft_add_plugin target)
  cmake_parse_arguments(P "" "NAME;OUTPUT_DIR" "SOURCES" ${ARGN})
  if(NOT P_NAME)
    set(P_NAME ${target})
  endif()
  add_library(${target} MODULE ${P_SOURCES})
  if(TARGET graft::sdk)
    target_link_libraries(${target} PRIVATE graft::sdk)
  endif()
  set_target_properties(${target} PROPERTIES
    PREFIX ""
    OUTPUT_NAME "graft-${P_NAME}"
    C_VISIBILITY_PRESET hidden
    CXX_VISIBILITY_PRESET hidden
    CUDA_VISIBILITY_PRESET hidden
    HIP_VISIBILITY_PRESET hidden
    VISIBILITY_INLINES_HIDDEN ON)
  if(P_OUTPUT_DIR)
    set_target_properties(${target} PROPERTIES LIBRARY_OUTPUT_DIRECTORY "${P_OUTPUT_DIR}")
  endif()
  target_link_options(${target} PRIVATE
    "-Wl,--version-script=${_GRAFT_PLUGIN_MAP}" "-Wl,--no-undefined")
endfunction()
