DROP TABLE signature_images;
DROP TABLE signing_credentials;
