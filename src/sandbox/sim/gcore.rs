//! A simulator of Gcore Cloud's role-assignment API.
