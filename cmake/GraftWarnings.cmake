# Warnings for project code: strict, and errors unless GRAFT_WERROR is off.
function(graft_warnings target)
  target_compile_options(${target} PRIVATE
    $<$<COMPILE_LANGUAGE:CXX,C>:-Wall -Wextra -Wpedantic -Wshadow -Wno-missing-field-initializers>
    $<$<AND:$<BOOL:${GRAFT_WERROR}>,$<COMPILE_LANGUAGE:CXX,C>>:-Werror>)
endfunction()
