#include "mosaik/tickets/admission.h"

#include <charconv>
#include <optional>

#include "mosaik/base/log.h"
#include "mosaik/base/metrics_internal.h"
#include "mosaik/network/core.h"
#include "mosaik/tdx/rfc3339.h"

namespace mosaik::tickets {

tl::expected<Expiration, TicketRejection> admit(detail::Core& c, const Validators& validators, const PeerEntry& e) {
  if (validators.empty()) return Expiration{};
  auto r = validate_tickets(e, validators, c.clock->now());
  if (!r) {
    const auto cls = ticket_class_label(r.error().cls);
    c.metrics->impl()
        .counter("mosaik_tickets_rejected_total", {{"network", c.net_label}, {"class", cls}, {"reason", r.error().why.reason}})
        .Increment();
    MLOG_WARN("mosaik::tickets", "unauthorized: peer={}… class={} reason={} {}", e.peer_id.short_hex(), cls,
              r.error().why.reason, r.error().why.detail);
  }
  return r;
}

std::string close_reason(const TicketRejection& r) {
  const auto cls = ticket_class_label(r.cls);
  std::string what = r.why.reason;
  if (cls == "tdx" && what == "expired") what = "expired quote";
  return cls + ": " + what + ", " + r.why.detail;
}

namespace {

/// The value of the first `exp=` token (up to a space or comma), as Unix seconds.
std::optional<std::int64_t> exp_of(std::string_view text) {
  std::size_t pos = 0;
  while ((pos = text.find("exp=", pos)) != std::string_view::npos) {
    if (pos == 0 || text[pos - 1] == ' ' || text[pos - 1] == ',') break;
    pos += 4;
  }
  if (pos == std::string_view::npos) return std::nullopt;
  auto v = text.substr(pos + 4);
  v = v.substr(0, v.find_first_of(" ,)"));
  if (auto t = tdx::parse_rfc3339(v)) return t;
  std::int64_t s = 0;  // out-of-range years are printed as raw Unix seconds
  auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), s);
  if (ec != std::errc() || end != v.data() + v.size() || v.empty()) return std::nullopt;
  return s;
}

}  // namespace

std::string refused_detail(std::string_view reason, SysTime local_now) {
  std::string out(reason);
  // `<class>: expired…` (the close_reason form); anything else is passed through.
  auto colon = reason.find(": ");
  if (colon == std::string_view::npos || reason.substr(colon + 2, 7) != "expired") return out;
  auto exp = exp_of(reason.substr(colon + 2));
  if (!exp) return out;
  auto now_ms = to_unix_ms(local_now);
  std::int64_t now_s = now_ms >= 0 ? now_ms / 1000 : -((-now_ms + 999) / 1000);
  constexpr std::int64_t kYear1 = -62135596800, kYear9999End = 253402300799;
  std::string ts = *exp >= kYear1 && *exp <= kYear9999End ? tdx::format_rfc3339(*exp) : std::to_string(*exp);
  out += now_s < *exp ? ", local clock says valid until " + ts : ", local clock says expired at " + ts;
  return out;
}

}  // namespace mosaik::tickets
