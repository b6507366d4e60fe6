// The class label of ticket rejections (operations.md §5.3, §7.5): the alert
// ZipnetTdxRejections matches class="tdx", so the two zipnet classes must use their names.
#include <gtest/gtest.h>

#include "mosaik/tickets/tickets.h"
#include "proto/ids.h"

TEST(MosaikTickets, ClassLabelsNameTheZipnetClasses) {
  EXPECT_EQ(mosaik::ticket_class_label(zipnet::proto::tdx_ticket_class()), "tdx");
  EXPECT_EQ(mosaik::ticket_class_label(zipnet::proto::bundle_ticket_class()), "client-bundle");
  auto other = zipnet::proto::UniqueId::from("some.other.class");
  EXPECT_EQ(mosaik::ticket_class_label(other), other.short_hex());
}
