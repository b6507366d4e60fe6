// Project vectors of protocol.md §16.2 (ids, committee signature, GROUP_ID, node seeds).
#include <gtest/gtest.h>

#include "proto/ed25519.h"
#include "proto/ids.h"

namespace zipnet::proto {
namespace {

TEST(Ids, InstanceDerivedIdsMatchProjectVectors) {
  auto ids = InstanceIds::from_name("acme.mainnet");
  EXPECT_EQ(default_universe().hex(), "b82b6f3b4a1e53d2d56523f5a7b1974e3842ac37a068cc302286065a8853cf43");
  EXPECT_EQ(ids.instance.hex(), "36fc7d339baf49a931c570921183bc7fd52dbf33b3d54e20014a745a9d86d859");
  EXPECT_EQ(ids.committee.hex(), "320d78041bab76efcdba9a8ff7aa95265ebaed8df72a0e93a45aad28052fec44");
  EXPECT_EQ(ids.submit.hex(), "44b42644840b618127b92cf258446350c07effb59a6721249539532ebdd2e339");
  EXPECT_EQ(ids.register_stream.hex(), "0b00aa94a141a8e02173f9909c29fb7627a184f0532ee6a3e7703e6ba7391fcf");
  EXPECT_EQ(ids.aggregate.hex(), "36dccc10e4b60e659c5ae0083194febd9866c825320c30636cb1cb48f1e17f2f");
  EXPECT_EQ(ids.broadcasts.hex(), "11c21cc18e8cc5456e0cea9739d9a66553726b54515819ef00b4419a7d84c3a1");
  EXPECT_EQ(ids.live.hex(), "7ab08857996be318f0e67f2fb5a95986d8050d6c536c5ec8cf9e96d3b5cadd61");
  EXPECT_EQ(ids.client_reg.hex(), "50146889b9b0d012c528c8ca87e1af307f9a20cf47a2fda5c32c16f0274d73cf");
  EXPECT_EQ(ids.server_reg.hex(), "85786281000735d3c940c1f85e6ca61861ee60a405273e72b394e20403231d9b");
  EXPECT_EQ(ids.k_client_id.hex(), "a527160c9e47e8775a9530751a03dbf8c28c54909c2a26af1b6fe34bcc3aea04");
  EXPECT_EQ(ids.k_slot.hex(), "27d615cfc0783550c89051adda732338ea73bb35de0e48741d268f162c5b3a04");
  EXPECT_EQ(ids.k_tag.hex(), "a41c6681cb3c51443f004e66a63b8e396b3729ec881f880c5d3df01829f96c21");
  EXPECT_EQ(ids.role_server.hex(), "2e58e9cf031433c5d8fa8a0e4ddf06778c5f8017b4cc7de2627fd405d304acc6");
  EXPECT_EQ(ids.role_aggregator.hex(), "c25756d8e0c75b5f1fd1ab8dc980b48014f5de794a25078baceb67af0bace9e4");
  EXPECT_EQ(ids.role_client.hex(), "4a88d802196741e19539bb30bcf563d9fc38c93e509d578d7f006a1a7a5d41f3");
  EXPECT_EQ(bundle_ticket_class().hex(), "81afab4041b62c20f3e4c75073f4cdc5583f1b9a3f6381b038969520b41dab6c");
  EXPECT_EQ(tdx_ticket_class().hex(), "0df6ed8500424a32854ef0a1b86ea7d41ef1a929b55e26023b045c91a38c44d0");
}

TEST(Ids, CommitteeSignatureAndGroupId) {
  auto ids = InstanceIds::from_name("acme.mainnet");
  CommitteeKnobs knobs;  // MIN 1, 3000 ms, 15000 ms, default shape
  auto sig = committee_signature(knobs);
  EXPECT_EQ(sig.hex(), "1f45fbfae646fbc4c17deedbd0ce351eb51a61d6a19f3fc117d56cfefacbec5c");
  auto digest = committee_secret_digest("your-committee-secret");
  EXPECT_EQ(digest.hex(), "30e78a901a739ab7ee482837754e08723b9b27f6049b1da1a6e7b3c6252f3976");
  EXPECT_EQ(committee_group_id(ids, digest, sig).hex(),
            "23e07d3eeb6320054d4d5642098478047cda8a5de59c73815034cac0a37b49be");
  // Any signature knob or a different secret is a different group.
  CommitteeKnobs other = knobs;
  other.min_participants = 2;
  EXPECT_NE(committee_group_id(ids, digest, committee_signature(other)),
            committee_group_id(ids, digest, sig));
  EXPECT_NE(committee_group_id(ids, committee_secret_digest("x"), sig),
            committee_group_id(ids, digest, sig));
}

TEST(Ids, UniqueIdHexRuleAndNodeSeed) {
  auto seed = UniqueId::from("stable-node-seed");
  EXPECT_EQ(seed.hex(), "c2ca256f6551931a88054219c269a8b620be60916689849d03a60da7ffa1bb91");
  SigningKey key{Secret32(seed.bytes())};
  EXPECT_EQ(key.peer_id().hex(), "cd866a5879bee75294fb9aba313d160f6855263ac60c20d7cf71142aef063a23");
  EXPECT_EQ(UniqueId::from("C2CA256F6551931A88054219C269A8B620BE60916689849D03A60DA7FFA1BB91"), seed);
  EXPECT_EQ(UniqueId::from("c2ca256f6551931a88054219c269a8b620be60916689849d03a60da7ffa1bb9").hex(),
            "56d8c875e1ba07629bbac785d03cc38461c94f1307141e45ac66926cb90443e0");
  EXPECT_EQ(seed.short_hex(), "c2ca256f65");
}

}  // namespace
}  // namespace zipnet::proto
