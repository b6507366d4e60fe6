// Internal: the spdlog logger of a target (includes spdlog; only for mosaik .cc files).
#pragma once

#include <spdlog/spdlog.h>

#include <string_view>

namespace mosaik::log {

/// The cached logger for `target`, created on first use with the configured level.
spdlog::logger& get(std::string_view target);

}  // namespace mosaik::log

#define MLOG_INFO(target, ...) ::mosaik::log::get(target).info(__VA_ARGS__)
#define MLOG_WARN(target, ...) ::mosaik::log::get(target).warn(__VA_ARGS__)
#define MLOG_DEBUG(target, ...) ::mosaik::log::get(target).debug(__VA_ARGS__)
#define MLOG_ERROR(target, ...) ::mosaik::log::get(target).error(__VA_ARGS__)
