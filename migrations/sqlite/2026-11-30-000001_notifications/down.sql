DROP TABLE notification_preferences;
DROP TABLE notification_settings;
DROP TABLE notifications;
