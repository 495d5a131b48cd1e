DROP TABLE audit_head;
DROP TABLE audit_events;
DROP TABLE login_throttle;
DROP TABLE sessions;
DROP TABLE user_roles;
DROP TABLE users;
DROP TABLE units;
