-- Tokens that may use pass-through authentication (POST /api/v1/authenticate).
ALTER TABLE api_tokens ADD COLUMN can_authenticate BOOLEAN NOT NULL DEFAULT FALSE;
