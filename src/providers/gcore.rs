//! Gcore Cloud role assignments (`/cloud/v1/users/assignments`).
