# Finds the prebuilt llama.cpp that scripts/fetch-llama.sh puts in GRAFT_LLAMA_DIR and
# describes it as the imported target graft::llama_prebuilt (headers + libllama + ggml).
# Only the oracle program links it; graft itself never does. When the directory or one of
# its parts is missing, the target is not created and one status line says why.
#
# The library names carry a version (libllama.v0.5.0.so), so they are globbed rather than
# spelled out: a newer fetch-llama.sh keeps working without touching this file.
if(TARGET graft::llama_prebuilt)
  return()
endif()

set(_llama_lib_dir "${GRAFT_LLAMA_DIR}/lib")
set(_llama_include_dirs "${GRAFT_LLAMA_DIR}/src/include" "${GRAFT_LLAMA_DIR}/src/ggml/include")

function(_graft_llama_pick out_var)
  foreach(pattern IN LISTS ARGN)
    file(GLOB candidates "${_llama_lib_dir}/${pattern}")
    if(candidates)
      list(SORT candidates)
      list(GET candidates -1 picked)
      set(${out_var} "${picked}" PARENT_SCOPE)
      return()
    endif()
  endforeach()
  set(${out_var} "" PARENT_SCOPE)
endfunction()

_graft_llama_pick(_llama_lib libllama.so libllama.v*.so)
_graft_llama_pick(_ggml_lib libggml.so libggml.v*.so)
_graft_llama_pick(_ggml_base_lib libggml-base.so)
file(GLOB _ggml_cpu_backends "${_llama_lib_dir}/libggml-cpu*.so")

set(_llama_missing "")
if(NOT EXISTS "${GRAFT_LLAMA_DIR}/src/include/llama.h")
  list(APPEND _llama_missing "src/include/llama.h")
endif()
if(NOT _llama_lib)
  list(APPEND _llama_missing "lib/libllama*.so")
endif()
if(NOT _ggml_lib)
  list(APPEND _llama_missing "lib/libggml*.so")
endif()
if(NOT _ggml_base_lib)
  list(APPEND _llama_missing "lib/libggml-base.so")
endif()
if(NOT _ggml_cpu_backends)
  list(APPEND _llama_missing "lib/libggml-cpu-*.so")
endif()
list(JOIN _llama_missing ", " _llama_missing)

if(_llama_missing)
  message(STATUS "graft: llama.cpp oracle not built: ${GRAFT_LLAMA_DIR} lacks ${_llama_missing} "
                 "(run scripts/fetch-llama.sh); conformance tests will skip")
  return()
endif()

foreach(part llama ggml ggml_base)
  add_library(graft_llama_${part} SHARED IMPORTED GLOBAL)
endforeach()
set_target_properties(graft_llama_llama PROPERTIES IMPORTED_LOCATION "${_llama_lib}")
set_target_properties(graft_llama_ggml PROPERTIES IMPORTED_LOCATION "${_ggml_lib}")
set_target_properties(graft_llama_ggml_base PROPERTIES IMPORTED_LOCATION "${_ggml_base_lib}")

add_library(graft_llama_prebuilt INTERFACE IMPORTED GLOBAL)
set_target_properties(graft_llama_prebuilt PROPERTIES
  INTERFACE_SYSTEM_INCLUDE_DIRECTORIES "${_llama_include_dirs}"
  INTERFACE_INCLUDE_DIRECTORIES "${_llama_include_dirs}"
  INTERFACE_LINK_LIBRARIES "graft_llama_llama;graft_llama_ggml;graft_llama_ggml_base")
add_library(graft::llama_prebuilt ALIAS graft_llama_prebuilt)
message(STATUS "graft: llama.cpp oracle uses ${_llama_lib}")
