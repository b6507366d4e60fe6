# The `mosaik` library (substrate.md): network, transport, discovery, streams, tickets, base
# (logs, metrics, clock, watch). Lookups for the packages only this layer needs live here.
find_package(spdlog REQUIRED)
find_package(prometheus-cpp CONFIG REQUIRED)
find_package(PkgConfig REQUIRED)
pkg_check_modules(HTTPLIB REQUIRED IMPORTED_TARGET cpp-httplib)
find_path(ASIO_INCLUDE_DIR asio.hpp REQUIRED)

add_library(mosaik STATIC
  ${CMAKE_CURRENT_LIST_DIR}/base/allocator.cc
  ${CMAKE_CURRENT_LIST_DIR}/base/log.cc
  ${CMAKE_CURRENT_LIST_DIR}/base/metrics.cc
  ${CMAKE_CURRENT_LIST_DIR}/transport/frame.cc
  ${CMAKE_CURRENT_LIST_DIR}/transport/tls.cc
  ${CMAKE_CURRENT_LIST_DIR}/tickets/tickets.cc
  ${CMAKE_CURRENT_LIST_DIR}/tickets/admission.cc
  ${CMAKE_CURRENT_LIST_DIR}/discovery/bootstrap.cc
  ${CMAKE_CURRENT_LIST_DIR}/discovery/catalog.cc
  ${CMAKE_CURRENT_LIST_DIR}/discovery/messages.cc
  ${CMAKE_CURRENT_LIST_DIR}/discovery/discovery.cc
  ${CMAKE_CURRENT_LIST_DIR}/discovery/mdns.cc
  ${CMAKE_CURRENT_LIST_DIR}/streams/streams.cc
  ${CMAKE_CURRENT_LIST_DIR}/network/network.cc
  ${CMAKE_CURRENT_LIST_DIR}/network/tls_stream.cc)
target_include_directories(mosaik PUBLIC ${PROJECT_SOURCE_DIR}/src)
target_include_directories(mosaik SYSTEM PRIVATE ${ASIO_INCLUDE_DIR})
target_compile_definitions(mosaik PRIVATE ASIO_STANDALONE ASIO_NO_DEPRECATED)
target_link_libraries(mosaik
  PUBLIC zipnet_proto OpenSSL::SSL spdlog::spdlog fmt::fmt prometheus-cpp::core PkgConfig::HTTPLIB
         Threads::Threads
  PRIVATE zipnet_flags
          # tickets/admission.cc reads and writes the RFC 3339 `exp=` of expiry refusals;
          # mosaik_tdx itself never depends on `mosaik`.
          mosaik_tdx)
# g++ 12 false positive on Asio's awaitable frame allocator (GCC PR 109224).
target_compile_options(mosaik PRIVATE -Wno-mismatched-new-delete)
