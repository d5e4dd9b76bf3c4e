# graft_add_plugin(<target> [NAME <plugin-file-name>] SOURCES <src>...
#                  [OUTPUT_DIR <dir>] [INSTALL_DESTINATION <dir> | NO_INSTALL])
#
# Builds a graft kernel plugin the way the host expects it: a MODULE library named
# graft-<NAME>.so with hidden visibility that exports only graft_plugin_init and
# graft_plugin_score (a version script), with no undefined symbols left to the host.
# Used in the graft tree and, through find_package(graft-sdk), by plugins built out of tree.
#
# OUTPUT_DIR           where the .so is built; in the graft tree it defaults to the build
#                      tree's lib/graft/plugins, which graft searches.
# INSTALL_DESTINATION  where `cmake --install` puts it, relative to the install prefix;
#                      default lib/graft/plugins, which graft searches under its own prefix
#                      (and, with --prefix ~/.local, the user's plugin directory).
# NO_INSTALL           no install rule (test plugins).
set(_GRAFT_PLUGIN_MAP "${CMAKE_CURRENT_LIST_DIR}/graft-plugin.map")

function(graft_add_plugin target)
  cmake_parse_arguments(P "NO_INSTALL" "NAME;OUTPUT_DIR;INSTALL_DESTINATION" "SOURCES" ${ARGN})
  if(P_UNPARSED_ARGUMENTS)
    message(FATAL_ERROR "graft_add_plugin(${target}): unknown arguments ${P_UNPARSED_ARGUMENTS}")
  endif()
  if(NOT P_SOURCES)
    message(FATAL_ERROR "graft_add_plugin(${target}): SOURCES is required")
  endif()
  if(NOT P_NAME)
    set(P_NAME ${target})
  endif()
  if(P_NO_INSTALL AND P_INSTALL_DESTINATION)
    message(FATAL_ERROR "graft_add_plugin(${target}): NO_INSTALL and INSTALL_DESTINATION exclude each other")
  endif()
  if(NOT TARGET graft::sdk)
    message(FATAL_ERROR "graft_add_plugin(${target}): target graft::sdk is missing; "
                        "call find_package(graft-sdk REQUIRED) first")
  endif()

  add_library(${target} MODULE ${P_SOURCES})
  target_link_libraries(${target} PRIVATE graft::sdk)
  set_target_properties(${target} PROPERTIES
    PREFIX ""
    OUTPUT_NAME "graft-${P_NAME}"
    SUFFIX ".so"
    C_VISIBILITY_PRESET hidden
    CXX_VISIBILITY_PRESET hidden
    CUDA_VISIBILITY_PRESET hidden
    HIP_VISIBILITY_PRESET hidden
    VISIBILITY_INLINES_HIDDEN ON
    LINK_DEPENDS "${_GRAFT_PLUGIN_MAP}")
  if(NOT P_OUTPUT_DIR AND DEFINED GRAFT_BUILD_PLUGIN_DIR)
    set(P_OUTPUT_DIR "${GRAFT_BUILD_PLUGIN_DIR}")
  endif()
  if(P_OUTPUT_DIR)
    set_target_properties(${target} PROPERTIES LIBRARY_OUTPUT_DIRECTORY "${P_OUTPUT_DIR}")
  endif()
  target_link_options(${target} PRIVATE "-Wl,--version-script=${_GRAFT_PLUGIN_MAP}")
  # Clang links its sanitizer runtimes into the executable only, so a sanitized plugin has
  # undefined __asan_* symbols by design; everywhere else an undefined symbol is a bug that
  # would otherwise surface only when the host loads the plugin.
  if(NOT (GRAFT_SANITIZE AND CMAKE_CXX_COMPILER_ID MATCHES "Clang"))
    target_link_options(${target} PRIVATE "-Wl,--no-undefined")
  endif()

  if(NOT P_NO_INSTALL)
    if(NOT P_INSTALL_DESTINATION)
      set(P_INSTALL_DESTINATION "lib/graft/plugins")
    endif()
    install(TARGETS ${target} LIBRARY DESTINATION "${P_INSTALL_DESTINATION}" COMPONENT plugins)
  endif()
endfunction()
