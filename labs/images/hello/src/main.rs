fn main() { println!("Hello from Baleia!"); }
