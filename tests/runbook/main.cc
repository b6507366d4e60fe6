// Runner of the runbook conformance suite: GoogleTest with a listener that prints one line
// per case — `PASS <case>`, `FAIL <case>: <first failure>`, `SKIP <case>: <reason>` (plus the
// fault-mode note of network cases) — and the closing `N passed, N failed[, N skipped]`
// (operations.md §12). `--case <id>` (or CASE=<id> in make) runs one case. GoogleTest's own
// output goes to the per-case log on failure only, so the summary stays readable.
#include <gtest/gtest.h>

#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

namespace {

std::string one_line(std::string s) {
  for (auto& c : s)
    if (c == '\n' || c == '\r') c = ' ';
  if (s.size() > 300) s = s.substr(0, 300) + "…";
  return s;
}

class RunbookPrinter : public ::testing::EmptyTestEventListener {
 public:
  void OnTestEnd(const ::testing::TestInfo& t) override {
    const auto* r = t.result();
    std::string note;
    for (int i = 0; i < r->test_property_count(); ++i)
      if (std::strcmp(r->GetTestProperty(i).key(), "fault_note") == 0)
        note = std::string(" (") + r->GetTestProperty(i).value() + ")";
    std::string why;
    for (int i = 0; i < r->total_part_count(); ++i) {
      const auto& p = r->GetTestPartResult(i);
      if (p.failed() || p.skipped()) {
        why = one_line(p.message());
        if (p.failed() && p.file_name()) why += std::string(" [") + p.file_name() + ":" + std::to_string(p.line_number()) + "]";
        break;
      }
    }
    if (r->Skipped()) {
      ++skipped_;
      std::printf("SKIP %s: %s\n", t.name(), why.empty() ? "no reason given" : why.c_str());
    } else if (r->Failed()) {
      ++failed_;
      std::printf("FAIL %s%s: %s\n", t.name(), note.c_str(), why.c_str());
    } else {
      ++passed_;
      std::printf("PASS %s%s\n", t.name(), note.c_str());
    }
    std::fflush(stdout);
  }
  void OnTestProgramEnd(const ::testing::UnitTest&) override {
    std::printf("%d passed, %d failed", passed_, failed_);
    if (skipped_) std::printf(", %d skipped", skipped_);
    std::printf("\n");
  }

 private:
  int passed_ = 0, failed_ = 0, skipped_ = 0;
};

}  // namespace

int main(int argc, char** argv) {
  // `--case S1[,B3]` → --gtest_filter=Runbook.S1:Runbook.B3
  std::vector<std::string> args(argv, argv + argc);
  std::string filter;
  bool summary = false;
  for (std::size_t i = 1; i < args.size(); ++i) {
    if (args[i] == "--case" && i + 1 < args.size()) {
      std::string list = args[i + 1], item;
      for (std::size_t p = 0; p <= list.size(); ++p) {
        if (p == list.size() || list[p] == ',') {
          if (!item.empty()) filter += (filter.empty() ? "Runbook." : ":Runbook.") + item;
          item.clear();
        } else {
          item += list[p];
        }
      }
      args.erase(args.begin() + static_cast<long>(i), args.begin() + static_cast<long>(i) + 2);
      --i;
    } else if (args[i] == "--summary") {
      summary = true;  // one line per case instead of GoogleTest's output
      args.erase(args.begin() + static_cast<long>(i));
      --i;
    }
  }
  if (!filter.empty()) args.push_back("--gtest_filter=" + filter);
  std::vector<char*> av;
  for (auto& a : args) av.push_back(a.data());
  int ac = static_cast<int>(av.size());
  av.push_back(nullptr);  // argv[argc] == nullptr: GoogleTest shifts it down when it removes a flag
  ::testing::InitGoogleTest(&ac, av.data());
  if (summary) {
    auto& listeners = ::testing::UnitTest::GetInstance()->listeners();
    delete listeners.Release(listeners.default_result_printer());
    listeners.Append(new RunbookPrinter);
  }
  return RUN_ALL_TESTS();
}
