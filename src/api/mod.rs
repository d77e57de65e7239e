//! The custom resources rolesync serves: RoleAssignment, ProviderConfig, ClusterProviderConfig.
