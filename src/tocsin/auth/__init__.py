"""Who is acting: users, roles and permissions, API tokens, browser sessions, single sign-on."""
