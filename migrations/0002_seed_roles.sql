-- Roles and permissions exactly as the contract's table. `user` is the default role of
-- new accounts. The runtime reads this map from D1 (cached per isolate for 60 s).
INSERT INTO roles (name, description) VALUES
  ('admin',  'Full administrative access'),
  ('editor', 'Creates and edits any content'),
  ('user',   'Manages their own posts'),
  ('viewer', 'Read-only access');

INSERT INTO permissions (name, resource, action) VALUES
  ('posts:read',       'posts',    'read'),
  ('posts:create',     'posts',    'create'),
  ('posts:update',     'posts',    'update'),
  ('posts:delete',     'posts',    'delete'),
  ('posts:update:any', 'posts',    'update:any'),
  ('posts:delete:any', 'posts',    'delete:any'),
  ('users:read',       'users',    'read'),
  ('users:manage',     'users',    'manage'),
  ('audit:read',       'audit',    'read'),
  ('api_keys:manage',  'api_keys', 'manage');

INSERT INTO role_permissions (role, permission) VALUES
  ('admin', 'posts:read'), ('admin', 'posts:create'), ('admin', 'posts:update'), ('admin', 'posts:delete'),
  ('admin', 'posts:update:any'), ('admin', 'posts:delete:any'),
  ('admin', 'users:read'), ('admin', 'users:manage'), ('admin', 'audit:read'), ('admin', 'api_keys:manage'),
  ('editor', 'posts:read'), ('editor', 'posts:create'), ('editor', 'posts:update'), ('editor', 'posts:delete'),
  ('editor', 'posts:update:any'), ('editor', 'posts:delete:any'),
  ('user', 'posts:read'), ('user', 'posts:create'), ('user', 'posts:update'), ('user', 'posts:delete'),
  ('viewer', 'posts:read');
