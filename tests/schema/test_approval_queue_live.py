"""approvalQueueChanged with the approval queue's filter: orders enter and leave the filtered queue, and its
length is the filtered count; a bad filter is refused as the query refuses it."""

from __future__ import annotations

from models import Role
from tests.ordering_helpers import add_buyer, approval_rule, create_product, place_order, shop
from tests.schema.test_subscription import approve, live, settings  # noqa: F401 (fixtures)
from tests.websocket_helpers import graphql_socket, until

FILTERED = ("subscription($filter: ApprovalQueueFilter) { approvalQueueChanged(filter: $filter) { orderId inQueue "
            "kind queueLength } }")


async def test_the_filtered_queue_changes_only_with_orders_that_meet_the_filter(api, services, live):  # noqa: F811
    tenant = await shop(api, [Role.CUSTOMER, Role.ORDER_APPROVER])
    approver, customer = tenant[Role.ORDER_APPROVER], tenant[Role.CUSTOMER]
    colleague = await add_buyer(api, tenant, Role.ORDER_APPROVER)
    await approval_rule(services, tenant.company_id)
    product = await create_product(services, price_minor=100_00)  # 125.00 with VAT
    await place_order(api, customer, [(product, 3)])  # 375.00, in the filtered queue before subscribing
    async with graphql_socket(live, approver.token) as socket:
        await socket.subscribe("1", FILTERED, {"filter": {"minTotal": "200.00"}})
        await until(lambda: services.broker.live_subscribers() == 1, "the subscription to be set up")
        await place_order(api, customer, [(product, 1)])  # 125.00: below the filter, no change of this queue
        large = await place_order(api, customer, [(product, 2)])  # 250.00
        entered = (await socket.next_data("1"))["approvalQueueChanged"]
        assert entered == {"orderId": large["id"], "inQueue": True, "kind": "REQUIRE_APPROVAL", "queueLength": 2}
        await approve(api, colleague, large["id"])
        left = (await socket.next_data("1"))["approvalQueueChanged"]
        assert left == {"orderId": large["id"], "inQueue": False, "kind": "APPROVE", "queueLength": 1}


async def test_a_bad_filter_is_refused(api, services, live):  # noqa: F811
    tenant = await shop(api, [Role.CUSTOMER, Role.ORDER_APPROVER])
    async with graphql_socket(live, tenant[Role.ORDER_APPROVER].token) as socket:
        await socket.subscribe("1", FILTERED, {"filter": {"minTotal": "5.00", "maxTotal": "1.00"}})
        message = await socket.receive()
    errors = message["payload"] if message["type"] == "error" else message["payload"].get("errors")
    assert errors and errors[0]["extensions"]["code"] == "INVALID_INPUT", message
