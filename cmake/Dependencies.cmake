# Every dependency comes from a Debian package (scripts/deps.sh); lookups per substrate.md §11.2.
find_package(Threads REQUIRED)
find_package(OpenSSL 3.0 REQUIRED)

# BLAKE3: the official C sources shipped by librust-blake3-dev (versioned dir: always glob),
# SIMD assembly enabled; a portable-only variant is built for the cross-check of protocol.md §16.1.
file(GLOB ZIPNET_BLAKE3_DIRS LIST_DIRECTORIES true /usr/share/cargo/registry/blake3-*/c)
list(SORT ZIPNET_BLAKE3_DIRS)
list(POP_BACK ZIPNET_BLAKE3_DIRS ZIPNET_BLAKE3_DIR)
if(NOT EXISTS "${ZIPNET_BLAKE3_DIR}/blake3.h")
  message(FATAL_ERROR "BLAKE3 C sources not found under /usr/share/cargo/registry/blake3-*/c "
                      "(install librust-blake3-dev: scripts/deps.sh)")
endif()
add_library(blake3 STATIC
  ${ZIPNET_BLAKE3_DIR}/blake3.c ${ZIPNET_BLAKE3_DIR}/blake3_dispatch.c
  ${ZIPNET_BLAKE3_DIR}/blake3_portable.c
  ${ZIPNET_BLAKE3_DIR}/blake3_sse2_x86-64_unix.S ${ZIPNET_BLAKE3_DIR}/blake3_sse41_x86-64_unix.S
  ${ZIPNET_BLAKE3_DIR}/blake3_avx2_x86-64_unix.S ${ZIPNET_BLAKE3_DIR}/blake3_avx512_x86-64_unix.S)
target_include_directories(blake3 SYSTEM PUBLIC ${ZIPNET_BLAKE3_DIR})
add_library(blake3_portable STATIC
  ${ZIPNET_BLAKE3_DIR}/blake3.c ${ZIPNET_BLAKE3_DIR}/blake3_dispatch.c
  ${ZIPNET_BLAKE3_DIR}/blake3_portable.c)
target_compile_definitions(blake3_portable PRIVATE BLAKE3_NO_SSE2 BLAKE3_NO_SSE41 BLAKE3_NO_AVX2
                                                   BLAKE3_NO_AVX512)
target_include_directories(blake3_portable SYSTEM PUBLIC ${ZIPNET_BLAKE3_DIR})

find_package(tl-expected REQUIRED)
find_package(nlohmann_json 3.11 REQUIRED)
find_package(fmt REQUIRED)
find_package(CLI11 CONFIG REQUIRED)

if(ZIPNET_BUILD_TESTS)
  find_package(GTest REQUIRED)
  find_package(rapidcheck REQUIRED)
endif()
if(ZIPNET_BUILD_BENCH)
  find_package(benchmark REQUIRED)
endif()
