"""tap-helpdesk: a Singer tap for helpdesk tickets.

Providers: Filum CX, Socialboards, Teamwork Desk, ProProfs Help Desk, Enneo.
"""
