//! The reconcile loop: observe -> diff -> create/update/delete -> status.
