{{ config(severity='warn') }}
-- Tickets whose computed figures differ from the provider's own by a minute or more
-- (or a message count that differs). A warning, not an error: on live data a provider may
-- count business hours only or re-opened tickets its own way (transform/README.md). On
-- the sandbox's data there is none (tests/e2e_meltano.py asserts it ticket by ticket).
select provider, ticket_id
from {{ ref('helpdesk_ticket_metrics') }}
where abs(first_response_minutes - provider_first_response_minutes) >= 1
    or abs(resolution_minutes - provider_resolution_minutes) >= 1
    or inbound_messages <> provider_inbound_messages
    or outbound_messages <> provider_outbound_messages
    or internal_messages <> provider_internal_messages
