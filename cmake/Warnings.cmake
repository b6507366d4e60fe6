# Shared compile flags: warnings everywhere, -Werror in CI, sanitizers in the debug preset.
add_library(zipnet_flags INTERFACE)
target_compile_options(zipnet_flags INTERFACE -Wall -Wextra -Wnon-virtual-dtor
                                             $<$<CXX_COMPILER_ID:GNU>:-Wshadow=local>)
if(ZIPNET_WERROR)
  target_compile_options(zipnet_flags INTERFACE -Werror)
endif()
if(ZIPNET_FAULT_INJECTION)
  target_compile_definitions(zipnet_flags INTERFACE ZIPNET_FAULT_INJECTION=1)
endif()
if(ZIPNET_SANITIZE)
  add_compile_options(-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined)
  add_link_options(-fsanitize=address,undefined)
endif()
