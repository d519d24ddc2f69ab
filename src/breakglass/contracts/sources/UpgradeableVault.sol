// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;

import "@openzeppelin/contracts/token/ERC20/IERC20.sol";

/// @title UpgradeableVault
/// @notice An ERC-20 vault meant to sit behind an OpenZeppelin TransparentUpgradeableProxy,
///         for eradication tests and drills, with a deliberate flaw: `emergencyWithdraw` was
///         meant for the owner but lost its check, so anyone can move the vault's funds while
///         it is not paused. Never deploy it with real funds.
/// @dev The storage (token, owner+paused, balances, totalDeposits, initialized) is what every
///      implementation in this file must keep, in this order.
contract UpgradeableVault {
    address public token;
    address public owner;
    bool public paused;
    mapping(address => uint256) public balances;
    uint256 public totalDeposits;
    bool private initialized;

    event Deposited(address indexed user, uint256 amount);
    event Withdrawn(address indexed user, uint256 amount);
    event Paused(address account);
    event Unpaused(address account);

    modifier whenNotPaused() {
        require(!paused, "Vault: paused");
        _;
    }

    modifier onlyOwner() {
        require(msg.sender == owner, "Vault: not owner");
        _;
    }

    function initialize(address token_, address owner_) external {
        require(!initialized, "Vault: initialized");
        initialized = true;
        token = token_;
        owner = owner_;
    }

    function totalAssets() public view returns (uint256) {
        return IERC20(token).balanceOf(address(this));
    }

    function deposit(uint256 amount) external whenNotPaused {
        balances[msg.sender] += amount;
        totalDeposits += amount;
        require(IERC20(token).transferFrom(msg.sender, address(this), amount), "Vault: transfer");
        emit Deposited(msg.sender, amount);
    }

    function withdraw(uint256 amount) external virtual whenNotPaused {
        balances[msg.sender] -= amount;
        totalDeposits -= amount;
        require(IERC20(token).transfer(msg.sender, amount), "Vault: transfer");
        emit Withdrawn(msg.sender, amount);
    }

    /// @dev THE FLAW: no `onlyOwner`; only the pause stops it.
    function emergencyWithdraw(address to, uint256 amount) external virtual whenNotPaused {
        require(IERC20(token).transfer(to, amount), "Vault: transfer");
    }

    function pause() external onlyOwner {
        paused = true;
        emit Paused(msg.sender);
    }

    function unpause() external onlyOwner {
        paused = false;
        emit Unpaused(msg.sender);
    }

    function version() external pure virtual returns (uint256) {
        return 1;
    }
}

/// @notice The fix that closes the flaw: only the owner may withdraw in an emergency.
contract UpgradeableVaultFixed is UpgradeableVault {
    function emergencyWithdraw(address to, uint256 amount) external override onlyOwner {
        require(IERC20(token).transfer(to, amount), "Vault: transfer");
    }

    function version() external pure override returns (uint256) {
        return 2;
    }
}

/// @notice A wrong fix: it hardens `withdraw` and leaves `emergencyWithdraw` open.
contract UpgradeableVaultWrongFix is UpgradeableVault {
    function withdraw(uint256 amount) external override whenNotPaused {
        require(amount <= balances[msg.sender], "Vault: exceeds balance");
        balances[msg.sender] -= amount;
        totalDeposits -= amount;
        require(IERC20(token).transfer(msg.sender, amount), "Vault: transfer");
        emit Withdrawn(msg.sender, amount);
    }

    function version() external pure override returns (uint256) {
        return 2;
    }
}

/// @notice A fix whose new variable was put first: every later variable moves one slot.
contract UpgradeableVaultClash {
    uint256 public fee;
    address public token;
    address public owner;
    bool public paused;
    mapping(address => uint256) public balances;
    uint256 public totalDeposits;
    bool private initialized;

    modifier whenNotPaused() {
        require(!paused, "Vault: paused");
        _;
    }

    modifier onlyOwner() {
        require(msg.sender == owner, "Vault: not owner");
        _;
    }

    function totalAssets() public view returns (uint256) {
        return token == address(0) ? 0 : IERC20(token).balanceOf(address(this));
    }

    function deposit(uint256 amount) external whenNotPaused {
        balances[msg.sender] += amount;
        totalDeposits += amount;
        require(IERC20(token).transferFrom(msg.sender, address(this), amount), "Vault: transfer");
    }

    function withdraw(uint256 amount) external whenNotPaused {
        balances[msg.sender] -= amount;
        totalDeposits -= amount;
        require(IERC20(token).transfer(msg.sender, amount), "Vault: transfer");
    }

    function emergencyWithdraw(address to, uint256 amount) external onlyOwner {
        require(IERC20(token).transfer(to, amount), "Vault: transfer");
    }

    function pause() external onlyOwner {
        paused = true;
    }

    function unpause() external onlyOwner {
        paused = false;
    }

    function version() external pure returns (uint256) {
        return 2;
    }
}

/// @notice A fix that closes the flaw and also (wrongly) charges a 1% fee on withdrawals:
///         honest withdrawals now behave differently.
contract UpgradeableVaultFeeFix is UpgradeableVault {
    function emergencyWithdraw(address to, uint256 amount) external override onlyOwner {
        require(IERC20(token).transfer(to, amount), "Vault: transfer");
    }

    function withdraw(uint256 amount) external override whenNotPaused {
        balances[msg.sender] -= amount;
        totalDeposits -= amount;
        require(IERC20(token).transfer(msg.sender, amount - amount / 100), "Vault: transfer");
        emit Withdrawn(msg.sender, amount);
    }

    function version() external pure override returns (uint256) {
        return 2;
    }
}
