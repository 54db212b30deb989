-- Messages of every configured provider whose API gives them (ProProfs, Teamwork Desk,
-- Enneo), in one shape: direction inbound (the customer's), outbound (an agent's reply to
-- the customer) or internal (notes, forwards, system events). Times are UTC. Each provider
-- contributes one branch model, helpdesk_messages__<provider>.
{%- set columns = [
    'provider', 'ticket_id', 'message_id', 'created_at', 'direction', 'message_type',
    'author', 'channel',
] %}
{%- set providers = helpdesk_message_providers() %}

{%- if providers %}
{%- for provider in providers %}
select {{ columns | join(', ') }}
from {{ ref('helpdesk_messages__' ~ provider) }}
{% if not loop.last %}union all{% endif %}
{%- endfor %}
{%- else %}
select
    cast(null as {{ dbt.type_string() }}) as provider,
    cast(null as {{ dbt.type_string() }}) as ticket_id,
    cast(null as {{ dbt.type_string() }}) as message_id,
    cast(null as {{ dbt.type_timestamp() }}) as created_at,
    cast(null as {{ dbt.type_string() }}) as direction,
    cast(null as {{ dbt.type_string() }}) as message_type,
    cast(null as {{ dbt.type_string() }}) as author,
    cast(null as {{ dbt.type_string() }}) as channel
where 1 = 0
{%- endif %}
