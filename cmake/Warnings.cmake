# imx_warnings(target): the project's warning set; -Werror when IMX_WERROR.
function(imx_warnings target)
  target_compile_options(${target} PRIVATE
    -Wall -Wextra -Wstrict-prototypes -Wshadow -Wformat=2 -Wvla
    -Wno-unused-parameter -Wno-format-nonliteral)
  if(IMX_WERROR)
    target_compile_options(${target} PRIVATE -Werror)
  endif()
endfunction()
