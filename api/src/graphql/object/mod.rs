pub mod server_info;
